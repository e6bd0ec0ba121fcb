"""`chestx demo`: every stage of the toolkit, end to end, on the embedded synthetic cohort."""
