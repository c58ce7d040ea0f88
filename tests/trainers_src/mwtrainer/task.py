"""Trains a tiny Keras model with MultiWorkerMirroredStrategy (a custom loop:
Keras 3's fit() does not take multi-worker input yet) and exports it."""

import argparse
import json
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import numpy as np
import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir", required=True)
parser.add_argument("--steps", type=int, default=40)
args = parser.parse_args()

task = json.loads(os.environ["TF_CONFIG"])["task"]
strategy = tf.distribute.MultiWorkerMirroredStrategy()
print("replicas in sync:", strategy.num_replicas_in_sync, flush=True)

GLOBAL_BATCH = 32
rng = np.random.default_rng(task["index"])
features = rng.normal(size=(512, 4)).astype("float32")
labels = (features @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")) + 0.25
dataset = tf.data.Dataset.from_tensor_slices((features, labels)).repeat().batch(GLOBAL_BATCH)
iterator = iter(strategy.experimental_distribute_dataset(dataset))

with strategy.scope():
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(learning_rate=0.1)


@tf.function
def train_step(inputs):
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x, training=True) - y)) / GLOBAL_BATCH
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    losses = strategy.run(step, args=inputs)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)


for number in range(args.steps):
    loss = train_step(next(iterator))
    if number % 10 == 0 or number == args.steps - 1:
        print(f"step {number} loss {float(loss):.4f}", flush=True)

is_chief = task["type"] in ("chief", "master")
target = os.path.join(args.job_dir, "export") if is_chief else tempfile.mkdtemp()
model.export(target)
print("exported to", target, flush=True)
