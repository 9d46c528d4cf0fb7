"""Bottom of serving: the one scores schema, score(), reasons, offers (catalog/decide/explain)."""
