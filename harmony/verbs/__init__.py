"""harmony's verbs, one module each: its Click command and, for a verb on a cluster, its steps in
the order they run (`STEPS`, functions of a `harmony.steps.Flow`). A newcomer reads a verb's
list and knows what it does, and in what order; a new verb is a module here and a line in
`harmony.cli`."""
