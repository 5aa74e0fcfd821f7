"""judgeflow's domain package: everything the Lambdas, the CLI, the emulator and the tests share.

It imports neither aws_cdk nor a handler; infra/ and lambdas/ are thin layers over it.
"""

__version__ = "0.1.0"
