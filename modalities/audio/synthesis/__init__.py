"""Speech the project synthesises itself, to train detectors on fakes it fully controls."""
