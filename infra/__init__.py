"""The CDK app's constructs, one per concern, each making its own functions and grants:
data, api, compute (on the network of ``infra.network``), reaper, orchestration,
monitoring; and the stack that wires them together (``infra.stack.ScanfleetStack``).
Settings come from CDK context (``infra.settings``); how a function is built and its
handler named: ``infra.lambdas``, ``infra.paths``."""
