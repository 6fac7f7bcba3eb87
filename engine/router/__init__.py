"""The rules that span an event's seat shards (all-or-nothing holds, the per-user limit,
best-available over several shards, undo), over a transport that carries commands to the
shards. No Ray here: `engine.actors.router` gives it the Ray transport, and the unit tests an
in-process one."""
