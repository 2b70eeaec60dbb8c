"""The berth command line: parsing and presenting only; the work happens in berth.Engine."""
