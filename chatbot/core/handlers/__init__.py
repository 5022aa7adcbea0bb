"""Use cases, one module per area; each handler is a plain async function
`handler(ctx, args)` that reads and writes through `ctx` and appends actions."""
