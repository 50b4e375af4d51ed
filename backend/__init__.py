"""Health Trend Seller backend: the business services behind the Rasa assistant."""
