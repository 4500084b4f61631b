"""Command-line tools: build the open body model, convert official files, generate data, benchmark."""
