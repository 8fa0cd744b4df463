#!/bin/bash
# Test input for `primus migrate`: waits forever before launching (the dry run's time limit stops it).
while true; do :; done
