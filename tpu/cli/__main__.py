import sys

from tpu.cli import main

sys.exit(main())
