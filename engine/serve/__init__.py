"""Ray Serve deployments of the API services, and what they need: contexts, engine access,
the deployment itself and the Serve config."""
