"""The CDK app's constructs: data, api, orchestration, compute, monitoring, and the stack
that composes them (``infra.stack.ScanfleetStack``). Settings come from CDK context
(``infra.settings``)."""
