"""The GraphQL types of the API, one module per topic."""
