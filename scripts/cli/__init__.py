"""Command lines for users of the service: predict (a deployed or local URL), classify (a file, offline),
invoke (an event through the real handler) and bulk_job (a file through the deployed bulk job)."""
