"""Routes: this server as a member of a cluster of NATS servers (pynatsd or the reference)."""
