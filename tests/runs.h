// Small training runs shared by the training and reliability tests.
#pragma once

#include <string>

#include "tools/train.h"

namespace cnx {
namespace test {

// atto on 384 synthetic 16x16 images of 4 classes, batch 32 (12 steps per epoch), 2 epochs, drop path
// and EMA on (every random stream and every saved tensor in play), quiet.
TrainOptions tiny_run(const std::string& out);
// tiny_run as FCMAE pre-training: 32x32 images, stem stride 1 (a 4x4 patch grid), batch 16.
TrainOptions tiny_pretrain(const std::string& out);
// The tensors of a checkpoint as fp32 bytes in file order (the metadata left out).
std::string weights_bytes(const std::string& dir, const char* file);

}  // namespace test
}  // namespace cnx
