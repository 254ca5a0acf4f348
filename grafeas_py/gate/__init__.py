"""The deploy gate: policies checked against an artifact's occurrences, answering allow or deny."""
