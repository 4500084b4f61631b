"""One base class for errors caused by the user's input (files, config, checkpoints).

Entry points catch :class:`UserError` and print its one-line message without a traceback; anything else is a
bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user: the message names the file and field and says what is wrong."""
