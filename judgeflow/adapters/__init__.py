"""AWS adapters: each AWS resource judgeflow keeps state in is reached through one module here.
The stages call these; the policy modules (capacity_policy, stats, ...) never touch AWS."""
