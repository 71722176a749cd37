from sceneline.pipelines.cli import main

main()
