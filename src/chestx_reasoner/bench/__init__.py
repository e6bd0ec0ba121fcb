"""RadRBench-CXR task builders, one file per task family, registered in one place (issue 5)."""
