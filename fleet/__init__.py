"""`python -m fleet`: one command over many tenant stacks (a service provider's customers).

The commands: `cli` is the command line and its exit codes, `__main__` runs a command and hands
its rows to the writers. `drift` reads every tenant with the provider's own Session
(no engine) and who changed a differing one (Entra's audit log); `history` turns the audit
log's changes into rows; `baseline` applies the baseline rule the policy pack enforces;
`engine` runs preview, up and refresh through the Automation API, handing it the program's
function (`program.declare`), and `diy_backend` reads a `file://` backend's files (outputs
without a CLI process; the empty metadata files a killed run leaves); `serialization_guard` keeps Pulumi's provider pickling from
growing across stacks; `run` gives each stack a bounded worker and its own row; `onboard`,
`consent`, `consent_status` and `doctor` bring tenants in and check them; `shards` reads the
documents of a sharded run for `summary`.

Below them, `writers/` is everything a person or a pipeline reads (the table, JSON, Markdown,
JUnit, the alert, the pages), and at the bottom what they write about: `outcome` (a row and the
exit code), `selection` (globs, stable shards, what a change since a git ref touched) and
`stacks` (the stack files, each tenant resolved to its GUID, two stacks on one tenant refused).
"""
