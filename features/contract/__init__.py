"""The data contract: table schemas, validation errors, timestamps, files and loading."""
