"""`python -m fleet`: one command over many tenant stacks (a service provider's customers).

`stacks` finds the stack files and resolves each tenant to its GUID, refusing two stacks on
one tenant; `drift` reads every tenant with the provider's own Session (no engine);
`engine` runs preview, up and refresh through the Automation API with `program.declare`
inline; `run` gives each stack a bounded worker and its own row; `display`, `report` and
`escape` show the rows in a terminal, as JSON and as a page; `consent` gives admin-consent
URLs. `__main__` holds the command line and its exit codes.
"""
