// ConvNeXt V2 weights from torch.save files (core/torch_file.h) under the official dense names and
// shapes our checkpoints use, from the three layouts they come in:
//   official dense  the released files (supervised and FCMAE pt_only): as they are, GRN to (1,1,1,D);
//   official sparse what the official pre-training code saves (main_pretrain.py): the encoder's
//                   MinkowskiEngine tensors remapped as its remap_checkpoint_keys does (depthwise
//                   kernel (k*k, C) -> (C,1,k,k), conv kernel (k*k, in, out) -> (out,in,k,k), both with
//                   the last two axes swapped; 'ln' and 'linear' path elements dropped; biases to 1-D;
//                   GRN to (1,1,1,D)); the encoder keeps its 'encoder.' prefix and the decoder its
//                   names, as our pre-training checkpoints have them;
//   timm            timm's convnextv2_* models (stem., stages.i.blocks.j.conv_dw, mlp.fc1...).
#pragma once

#include <string>

#include "core/safetensors.h"
#include "core/torch_file.h"

namespace cnx {

enum class TorchLayout { OfficialDense, OfficialSparse, Timm };
const char* torch_layout_name(TorchLayout l);

// The tensors renamed and reshaped; *layout (when not null) says which layout they came in.
SafetensorsWriter official_weights(const TorchStateDict& sd, TorchLayout* layout = nullptr);

// A weights file of either kind: safetensors as it is, a torch.save file converted in memory.
SafetensorsReader open_weights(const std::string& path);

}  // namespace cnx
