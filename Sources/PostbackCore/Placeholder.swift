// Core module placeholder; replaced by the catalog, index and macro files.
