-- The checkpoint an evaluate job with checkpoints.select all chose as the best of its student job: by which
-- metric, in which direction, its value, and the evaluate job that chose it. At most one live checkpoint of a
-- job is marked: the latest such evaluation to complete moves the mark.
ALTER TABLE checkpoints
    ADD COLUMN best_metric     text,
    ADD COLUMN best_mode       text,
    ADD COLUMN best_value      double precision,
    ADD COLUMN best_evaluation uuid;
