"""`python -m fleet`: one command over many tenant stacks (a service provider's customers).

`cli` is the command line and its exit codes; `selection` picks the stacks (globs, stable
shards, what a change since a git ref touched); `stacks` finds the stack files and resolves each
tenant to its GUID, refusing two stacks on one tenant; `drift` reads every tenant with the
provider's own Session (no engine), and who changed a differing one (Entra's audit log);
`history` turns the audit log's changes into rows; `policy` applies the baseline rule the policy
pack enforces; `engine` runs preview, up and refresh through the Automation API with
`program.declare` inline; `run` gives each stack a bounded worker and its own row; `display`,
`report`, `summary`, `junit` and `escape` show the rows in a terminal, as JSON, Markdown, JUnit
and pages per customer; `notify` sends the run's one alert; `consent` gives admin-consent URLs and `consent_status`
each app's sign-in and roles per tenant; `onboard` writes and creates customers' stacks from a
CSV or GDAP; `version` reads the version. `__main__` runs a command and writes its results.
"""
