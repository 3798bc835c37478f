"""A project's workloads on its cluster: read from the project's files (`spec`), applied by
server-side apply and pruned as ApplySets (`apply`), and waited for until they run (`rollout`)."""
