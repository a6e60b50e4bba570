"""One construct per capability; `infra.stack.PlayoutStack` wires them together."""
