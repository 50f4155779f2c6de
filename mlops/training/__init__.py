"""The training entry point (`python -m mlops.training`, SageMaker script mode) and the Verify step's check.

`mlops.training.entrypoint` documents the contract: SM_* inputs, SM_HPS keys, output files and stdout lines.
`mlops.training.verify.verify_model` reloads a saved model and checks it reproduces its recorded predictions.
"""
