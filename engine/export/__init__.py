"""`mvssl export`: a run's model and results in the formats other tools read (HEAR package, TensorBoard,
projector TSV, Parquet); one module per format."""
