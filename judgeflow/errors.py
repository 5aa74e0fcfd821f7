"""Errors written for the people who make them: each says what is wrong, where, and how to fix it.

Their class names reach the Step Functions console as the error of a failed state, so they are
part of the contract: the state machine and the CLI catch them by name.
"""


class JudgeflowError(ValueError):
    """A mistake in input a person gave (a file, a setting, an execution input), never a bug."""


class RequestError(JudgeflowError):
    """The execution input is malformed; the message shows the expected shape."""


class RunSettingsError(JudgeflowError):
    """Per-run settings are invalid; the message names the key and the allowed values."""


class RecipeError(JudgeflowError):
    """The task/judge combination or an inference setting is not allowed by the recipe."""


class OutputError(JudgeflowError):
    """A judge output archive is unsafe or lacks what the judge must produce; the message says which."""


class SettingsError(JudgeflowError):
    """A cdk.json context value is missing or wrong; the message says which and how to fix it."""
