"""The HTTP layer of the six services (Auth, Event, Queue, Reservation, Payment, Admin):
Starlette routes, request/response schemas, JWT and RBAC, rate limits, security headers,
error mapping and the OpenAPI document. It reaches the engine through `engine.actors.router`."""
