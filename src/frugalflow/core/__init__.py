"""The ground floor: settings, the error tree, request and result models, redaction of secrets."""
