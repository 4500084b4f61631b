"""Dataset adapters: each turns a dataset's own files (in their released format) into PersonRecords.

Modules are imported on demand through ``data.registry.ADAPTERS`` ("module:function" strings), so importing
this package loads no dataset code.
"""
