"""Voices of the customer: users' posts and messages quoted on a client's contracts, curated by the
operator's people (category, sentiment, tags, highlight) and read by the client."""
