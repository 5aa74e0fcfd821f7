"""The offline harness: the embedded AWS, the offline deploy, the local stack and the demo."""

from offline.synth import use_installed_node

use_installed_node()
