"""Countersign's pure domain: workflow definitions, the run decider and the ports it needs."""
