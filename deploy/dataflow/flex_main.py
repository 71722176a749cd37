"""Flex Template entry point (FLEX_TEMPLATE_PYTHON_PY_FILE): the template's parameters arrive as
--name=value flags; a --subscription makes it the streaming pipeline. It submits the job and
exits, as Dataflow's launcher requires."""

import logging
import sys

from sceneline.pipelines.launch import flex_template_main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    flex_template_main(sys.argv[1:])
