"""Dataset adapters: each turns a dataset's own files (in their released format) into PersonRecords.

The dataset table (``data/datasets.py``) names each adapter with its evaluator; importing this package alone
loads no dataset code.
"""
