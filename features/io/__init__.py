"""Reading and writing at scale: atomic files, snapshots, imports, partitioned and Spark builds."""
