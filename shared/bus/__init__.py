"""RabbitMQ plumbing: topology, confirmed publishing, the outbox relay, the inbox consumer, dead-letter tools."""
