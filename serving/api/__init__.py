"""The HTTP API: BentoML service, schemas, auth, errors, limits, online state, hot reload."""
