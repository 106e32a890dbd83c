"""What the tool packages share: percentiles, Lambda prices, the generated docs blocks, the offline entry into
the service, the SAM template reader and a local Lambda context. Small, dependency-light, no tool of its own."""
