"""Answer parsing, accuracy and RadRScore (completeness, factuality, effectiveness) (issue 7)."""
