"""Many tenant stacks at once: which stacks there are, and which tenant each one manages.

`python -m fleet matrix` is the pipeline matrix: every stack in stacks/ with its tenant
resolved to a GUID, refusing two stacks that manage one tenant.
"""
