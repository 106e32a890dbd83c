"""Emotion classification API: a FastAPI app served on AWS Lambda through Mangum."""
