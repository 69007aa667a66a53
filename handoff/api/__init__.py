"""The JSON API (/api/v1): personal tokens, and the routes other systems call."""
